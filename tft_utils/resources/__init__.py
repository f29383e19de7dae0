"""Layer 0, resources: data files shipped inside the package (dialogue id lists, the published test
set and results). Read them with `resource(name)`, which works from a checkout, an installed wheel
or a zip alike; never through a path built from `__file__`."""

from importlib.resources import files


def resource(name: str):
    """The shipped file `name` (an `importlib.resources` Traversable: `.read_text()`, `.open()`)."""
    return files(__name__) / name
