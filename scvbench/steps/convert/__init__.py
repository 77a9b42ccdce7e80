"""Scanner DICOM to BIDS: finding series, classifying them, converting with dcm2niix."""
