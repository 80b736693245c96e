"""HTTP routes, one module per audience: customers, their orders, merchants, the shop's orders."""
