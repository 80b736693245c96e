"""Storage: tables, the database connection, the alert log and migrations."""
