"""The pipeline engine: stages, their cache, the runner, ``explain``, locks and pointers.

It knows no MNIST, no dataset and no network: a pipeline is handed to it as a tuple of
:class:`tasks.engine.stage.Stage` (``tests/test_structure.py`` checks that it imports nothing
else of the project). Its pure parts (``atomic``, ``errors``, ``pointer``) are shared with
``tasks.core``.
"""
