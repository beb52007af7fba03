"""Data errors: one line naming the file, what is wrong and the layout expected."""


class DataError(Exception):
    """Root of the dataset errors; the CLI prints the message without a traceback."""


class DataNotFound(DataError):
    """A file or folder the task's official layout requires is absent."""


class DataCorrupt(DataError):
    """A file exists but cannot be read as its official format says."""


class UnseenClass(DataError):
    """A test image of a class its head was never trained on: it could only be scored as wrong."""


class UnknownTask(DataError):
    """A task id that is not in the battery."""
