"""kube-scheduler HTTP extender: steer one-pod-at-a-time scheduling toward a global plan.

``app.create_app(build_service(settings))`` is the ASGI app; ``server.serve(settings)`` runs it.
"""
