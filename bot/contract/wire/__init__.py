"""Each platform's wire format for our buttons, encoded and decoded in one place.

The adapters (answering the person) and the worker's delivery (posting status messages with
a Cancel button) both build and read buttons through these modules, so the two cannot
drift. A codec imports no platform library: it speaks plain strings and JSON-shaped values.
"""

__all__: list[str] = []
