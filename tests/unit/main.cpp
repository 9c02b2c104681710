// Catch2 v2 runner for the unit tests (tests/unit/test_*.cpp).
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
