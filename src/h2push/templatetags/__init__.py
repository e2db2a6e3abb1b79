"""Django template tags of h2push: add ``"h2push"`` to ``INSTALLED_APPS`` to load them."""
