"""Conformance suites every adapter must pass.

An adapter's test module joins with one line per port::

    class TestMyBlobs(BlobStoreTests):
        @pytest.fixture
        def blobs(self): return MyBlobStore(...)
"""

from .store_tests import BlobStoreTests, MetadataStoreTests

__all__ = ["BlobStoreTests", "MetadataStoreTests"]
