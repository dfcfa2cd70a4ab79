"""The package's version, in a module of its own that imports nothing.

Stage files record it (:func:`redundancy.engine.stages.provenance`); the root
package re-exports it as ``redundancy.__version__``. Any layer may import this
module without importing the root package, whose ``open_store`` reaches the top.
"""

__version__ = "0.1.0"
