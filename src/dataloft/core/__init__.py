"""The domain core: services, rules and errors. It knows no HTTP and no web framework;
``tests/unit/core/test_layering.py`` keeps it that way."""
