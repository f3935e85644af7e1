"""The feature server (`featurestore serve`): Feast's HTTP endpoints over the online store,
in pure Python. api.py holds the endpoints, app.py the ASGI application around them,
server.py the processes (uvicorn, workers), metrics.py the metrics the workers share."""
