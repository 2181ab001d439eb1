{
  # The source list lives in native/sources.json (CMakeLists.txt reads the same file).
  "targets": [
    {
      "target_name": "multiprocessing",
      "sources": [
        "<!@(node -p \"require('./native/sources.json').common.join(' ')\")"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")"
      ],
      "defines": [
        "NAPI_VERSION=8",
        "NAPI_CPP_EXCEPTIONS",
        "NODE_ADDON_API_DISABLE_DEPRECATED"
      ],
      "cflags!": ["-fno-exceptions", "-Wno-unused-parameter"],
      "cflags_cc!": ["-fno-exceptions"],
      "cflags": ["-Wall", "-Wextra"],
      "cflags_cc": ["-Wall", "-Wextra", "-fexceptions"],
      "conditions": [
        [
          "OS=='linux'",
          {
            "sources": [
              "<!@(node -p \"require('./native/sources.json').linux.join(' ')\")"
            ],
            # Symbols bound at load, not on first call: else each child forked by the
            # forkserver's zygote looked up again the ones it first called (~30 faults).
            "ldflags": ["-Wl,-z,now"]
          }
        ],
        [
          "OS=='mac'",
          {
            "sources": [
              "<!@(node -p \"require('./native/sources.json').mac.join(' ')\")"
            ],
            "xcode_settings": {
              "GCC_ENABLE_CPP_EXCEPTIONS": "YES",
              "CLANG_CXX_LANGUAGE_STANDARD": "c++17",
              "CLANG_CXX_LIBRARY": "libc++",
              "MACOSX_DEPLOYMENT_TARGET": "10.15",
              "WARNING_CFLAGS": ["-Wall", "-Wextra"]
            }
          }
        ],
        [
          "OS=='win'",
          {
            "sources": [
              "<!@(node -p \"require('./native/sources.json').win.join(' ')\")"
            ],
            "defines": ["WIN32_LEAN_AND_MEAN", "NOMINMAX", "_HAS_EXCEPTIONS=1"],
            "msvs_settings": {
              "VCCLCompilerTool": {
                "ExceptionHandling": 1,
                "AdditionalOptions": ["/std:c++17", "/W4"]
              }
            }
          }
        ]
      ]
    }
  ]
}
