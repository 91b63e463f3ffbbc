"""The project's shared facts about its dataset (the ``project:`` section of params.yaml)."""
