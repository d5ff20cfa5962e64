"""Operations as values: one frozen request type per operation, owning its validation and
its conversion to and from keywords, query strings, JSON bodies and CLI flags.

Example
-------
>>> ReadQuery.from_query({"as_of": "2"}, name="f").as_of
2
"""

from .base import Operation
from .catalog import DatesQuery, DeleteRequest, FrameRef, ListQuery, VacuumOptions
from .edit import CompactOptions, DeleteRowsOptions, ReplaceOptions, ReplaceRequest
from .output import OutputOptions
from .read import ReadQuery, ReadRequest
from .session import CommitRequest, PieceRequest, SessionRef
from .upload import UploadOptions, UploadRequest

__all__ = [
    "CompactOptions",
    "DeleteRowsOptions",
    "ReplaceOptions",
    "ReplaceRequest",
    "DatesQuery",
    "DeleteRequest",
    "FrameRef",
    "ListQuery",
    "Operation",
    "ReadQuery",
    "ReadRequest",
    "UploadOptions",
    "UploadRequest",
    "VacuumOptions",
    "CommitRequest",
    "PieceRequest",
    "SessionRef",
    "OutputOptions",
]
