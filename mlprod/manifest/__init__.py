"""Model manifests: the versioned file format, semver rules, lineage capture, verification and reproduction.

* :mod:`.schema` - the ``model_manifest.yaml`` format (strict reading, deterministic writing)
* :mod:`.store` - ``save_model`` / ``load_model`` / ``add_evaluation`` for notebooks
* :mod:`.semver` - which version bump a change needs; proposing the next version
* :mod:`.gitstate`, :mod:`.datarefs`, :mod:`.environment` - lineage: commit, data hashes, packages
* :mod:`.history` - earlier versions, found through dvc.lock and the DVC cache
* :mod:`.verify`, :mod:`.lineage`, :mod:`.reproduce` - what the ``mlprod manifest/lineage/reproduce`` verbs do
"""
