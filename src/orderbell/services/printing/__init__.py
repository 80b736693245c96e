"""Kitchen tickets on the shop's receipt printers: rendering and the print jobs."""
