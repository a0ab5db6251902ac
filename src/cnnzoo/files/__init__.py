"""Files cnnzoo writes and reads: atomic writes, a run folder's lock, and the checks that let a file from a stranger be
read without running its code or reading outside it."""
