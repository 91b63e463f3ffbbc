"""Model files: skops artifacts saved deterministically and loaded only after a trust audit.

* :mod:`.skops_io` - ``dumps_model`` / ``save_model`` / ``load_model`` / ``loads_model`` / ``audit_model``
* :mod:`.trust` - the exact allow-list of classes and functions, and the project's additions
* :mod:`.audit` - the audit of a file's object tree before anything is built
* :mod:`.structure` - bounds checks of the trees in a loaded model
"""
