"""The composition root: command line, commands, the one event pipeline, supervised tasks.

The only package that knows every other one; nothing imports it but the ``daylight`` entry
point and the tests.
"""
