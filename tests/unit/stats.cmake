# remus's per-epoch statistics, their histograms and the Prometheus text
# built from them (remusd/stats.c, hist.c, metrics.c).
remus_unit_test(test-stats SOURCES ${CMAKE_CURRENT_LIST_DIR}/test-stats.c
  ${CMAKE_SOURCE_DIR}/remusd/stats.c ${CMAKE_SOURCE_DIR}/remusd/hist.c
  ${CMAKE_SOURCE_DIR}/remusd/metrics.c
  LIBS remus_ckpt remus_stream remus_codec remus_failover remus_common
  PkgConfig::LIBEV)
target_include_directories(test-stats PRIVATE ${CMAKE_SOURCE_DIR}/remusd
  ${CMAKE_SOURCE_DIR}/checkpoint)
# remusd's per-guest counters (remusd/backup-metrics.c).
remus_unit_test(test-backup-metrics SOURCES
  ${CMAKE_CURRENT_LIST_DIR}/test-backup-metrics.c
  ${CMAKE_SOURCE_DIR}/remusd/backup-metrics.c
  ${CMAKE_SOURCE_DIR}/remusd/metrics.c ${CMAKE_SOURCE_DIR}/remusd/stats.c
  ${CMAKE_SOURCE_DIR}/remusd/hist.c
  LIBS remus_ckpt remus_stream remus_codec remus_failover remus_common
  PkgConfig::LIBEV)
target_include_directories(test-backup-metrics PRIVATE
  ${CMAKE_SOURCE_DIR}/remusd ${CMAKE_SOURCE_DIR}/checkpoint)
