"""The shop's rules, free of I/O: orders, alerts and reminders."""
