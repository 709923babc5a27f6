"""The edges: HTTP routes, the WebSocket endpoint and SSE streams."""
