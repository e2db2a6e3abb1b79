"""The delivery engine every adapter calls (private: import from the adapters).

Between the sans-IO core (:mod:`h2push._core`: plan, links, manifest) and the framework
adapters (:mod:`h2push.asgi`, :mod:`h2push.flask`, :mod:`h2push.quart`, :mod:`h2push.starlette`,
:mod:`h2push.django`) sits this layer, free of any framework:

* :mod:`.engine`: the per-app object (settings, tracker, plan memo with the bytes each plan
  sends, request facts, hinted paths), the per-request :class:`~.engine.Visit` (client, known
  set, delivered set, ``push()`` calls) and the rules (loading and recording the client, which
  response may record delivery, the hinted-max-age caching rule);
* :mod:`.ledger`: the per-connection push ledger and its byte budget;
* :mod:`.learning`: what each route's pages need early, learned from the responses themselves
  (no manifest, no decorator), per process or shared through Redis;
* :mod:`.declare`: what adapters share to declare preloads (the default manifest path, the
  app manifest setting, the route decorator's marker);
* :mod:`.werkzeug_routes`: route matching for the Werkzeug-based adapters (Flask, Quart);
* :mod:`.asgi_types`: the ASGI type aliases and the lifespan answer.

Adapters translate their framework's request and response into these calls and back.
"""
