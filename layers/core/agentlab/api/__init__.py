"""The HTTP API: routes, authentication, one error shape."""
