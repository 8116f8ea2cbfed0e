"""Repository-level pytest configuration.

pytest accepts ``pytest_plugins`` only in the root conftest: ``pytester`` drives the harness's
own plugin in ``tests/test_plugin.py``. The harness plugin itself loads through its ``pytest11``
entry point (``pip install -e .``), for ``tests/`` and ``suites/`` alike.
"""

pytest_plugins = ["pytester"]
