# Filled by the data issue: FCNIoUMetric (METRICS).
