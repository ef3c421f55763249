"""The plugin layer: the contract between zest and its plugins.

``hookspecs`` (the hooks), ``options`` (declared, checked options), the base classes
(``generation``, ``strategy``, ``filter``, ``encoder``), helpers plugins share (``loops``,
``models``) and the plugin ``manager``. Nothing here imports the rest of the core (corpus,
contexts, adaptation, experiment, search, commands); tests/test_layout.py checks it. Plugins
import these names from ``zest_core`` itself, the public namespace.
"""
