"""Files: decoding images safely, loading and saving them, output plans and locks, the samples."""
