# fe_embed.cmake -- writes the bytes of IN as a C array to OUT:
#   cmake -DIN=std/nn.model -DOUT=fe_std.c -P fe_embed.cmake
file(READ ${IN} hex HEX)
string(LENGTH "${hex}" nhex)
math(EXPR len "${nhex} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
string(REGEX REPLACE "(0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,)" "\\1\n  " bytes "${bytes}")
file(WRITE ${OUT} "/* Generated from std/nn.model by fe_embed.cmake; do not edit. */\n#include <stddef.h>\n\nconst char fe_std_nn_model[] = {\n  ${bytes}0x00};\nconst size_t fe_std_nn_model_len = ${len};\n")
