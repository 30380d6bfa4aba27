"""The pipeline's stages, one module each.

A stage module holds the stage's Prefect task (thin: read inputs, call ``tasks.core``, write,
return its manifest through :func:`tasks.engine.cache.finish`) and its one declaration, a
:class:`tasks.engine.stage.Stage` named after the stage. :mod:`tasks.pipeline` puts them in
order. Like every task module, a stage imports the modules that load numpy, pyarrow, Pillow or
matplotlib inside its task: a run whose stages all come from cache loads none of them
(``tests/test_imports.py``).
"""
