"""Generated gRPC stubs (optimizer_pb2, health_pb2 and their _grpc modules).

The modules here are written by ``client/python/build_stubs.py`` and are not
committed; run it once after a checkout or a change to the .proto files.
"""
