"""happyhorse: an open, self-hostable HappyHorse 1.1 video-generation API.

``import happyhorse`` stays light: it never imports the server, the database
layer, PyAV or torch. The server lives in ``happyhorse.api`` and friends and is
installed with the ``server`` extra.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
