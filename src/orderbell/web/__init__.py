"""The web layer: HTTP routes, the console socket, the envelope and the console page."""
