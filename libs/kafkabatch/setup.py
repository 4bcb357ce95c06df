from setuptools import Extension, setup

setup(ext_modules=[Extension("dondoc_kafkabatch._batches",
                             sources=["src/dondoc_kafkabatch/_batches.c"],
                             extra_compile_args=["-O2", "-std=c11"],
                             optional=False)])
