#include "gen_onnx.h"
