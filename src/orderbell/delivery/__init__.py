"""Delivery inside one process: the hub that writes frames to the shop's consoles."""
