"""What flows through Daylight: wire objects, keys, the event envelope, external inputs, time.

The leaf of the package graph: it imports nothing from the project (only the standard
library and msgspec), so every layer — ``kube`` that decodes into it, the pure ``model``,
the checks, the outputs — can share one vocabulary without depending on each other.
"""
