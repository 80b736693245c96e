"""What the test folders share.

- ``servers``: real server processes on free loopback ports, shops, an HTTP client.
- ``cluster``: several server processes on one database and one broker.
- ``consoles``: test consoles that reconnect with ``since`` and record every frame.
- ``frames``: reading a console's frames; building the masked frames a client sends.
- ``orders``: orders for setup, placed over the API or put into the database.
- ``terminal``: ``orderbell listen`` as a subprocess, and reading its output.
- ``polling``: ``wait_until``, a bounded poll for an event instead of a fixed sleep.
- ``clocks``: a clock that tests move by hand, for time-based rules.
- ``transports``: a recording asyncio transport for unit tests of protocols.
- ``metrics``: reading a sample of a server's ``/metrics``.
- ``processes``: two processes' worth of engine, broker and outbox in one test process.
"""
