# lit.cfg.py -- IR-in/IR-out pass tests: each .mir file runs `modelc opt`
# over itself and checks the printed IR with FileCheck. tests/CMakeLists.txt
# sets MODELC and FILECHECK (the tools under test) in the environment.
import os

import lit.formats

config.name = 'modelc'
config.suffixes = ['.mir']
config.test_format = lit.formats.ShTest(True)
config.test_source_root = os.path.dirname(__file__)
# Scratch files go to the build tree (LIT_EXEC_ROOT), never the sources.
if os.environ.get('LIT_EXEC_ROOT'):
    config.test_exec_root = os.environ['LIT_EXEC_ROOT']

modelc = os.environ.get('MODELC', 'modelc')
filecheck = os.environ.get('FILECHECK', 'FileCheck')
config.substitutions.append(('%modelc', modelc))
config.substitutions.append(('FileCheck', filecheck))
# `not` (invert the exit status) ships beside FileCheck in LLVM's tools.
not_tool = os.path.join(os.path.dirname(filecheck), 'not')
if os.path.exists(not_tool):
    config.substitutions.append((r'\bnot\b', not_tool))
