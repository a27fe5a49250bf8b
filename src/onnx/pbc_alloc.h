/*
 * A protobuf-c allocator on eml_alloc/eml_free: every decoded or packed ONNX message lives in
 * memory that is wiped when freed (DESIGN §6: parsers get allocators that wipe on free).
 * Thread-safe (stateless).
 */
#ifndef EML_ONNX_PBC_ALLOC_H
#define EML_ONNX_PBC_ALLOC_H

#include <protobuf-c/protobuf-c.h>

ProtobufCAllocator *eml_pbc_allocator(void);

#endif
