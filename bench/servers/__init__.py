"""Reference WebSocket servers the harness starts next to orderbell.

Each one accepts consoles on ``/ws/...``, answers ``GET /healthz``, and on
``GET /trigger?oid=<int>`` sends one alert frame (shaped like orderbell's,
about 150 bytes, ``orderId`` set to ``oid``) to every console. The trigger
is answered once the fan-out has been handed off (as orderbell's publish
API answers after commit). Permessage-deflate is refused everywhere.
"""
