__version__ = "0.1.0"
PLUGIN_API = 1  #: Version of the plugin-facing API; bumped only on breaking changes to ``facex_core``'s public names.
