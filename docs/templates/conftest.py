"""Keep pytest out of the template: tests/test_templates.py runs it from a temporary copy.

pyproject.toml collects only tests/ and models/; this covers ``pytest .`` and ``pytest docs``,
which would otherwise run the template's tests here and write outputs/ into docs/.
"""

collect_ignore = ["model"]
