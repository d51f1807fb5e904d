# Filled by the data issue: LoadSBDAnnotations (TRANSFORMS) and the VOC/SBD format helpers.
