/* Packaging: `make install PREFIX=tmp` gives a library, the header and a
 * pkg-config file that an out-of-tree program builds against
 * (test/integration/test-install.sh does the work). */
#include <stdlib.h>
#include <sys/wait.h>

#include "task.h"

TEST_TIMEOUT(install_out_of_tree_build_with_pkg_config, 300) {
  int st;
  if (system("command -v pkg-config >/dev/null 2>&1 && "
             "command -v make >/dev/null 2>&1") != 0)
    SKIP("make or pkg-config not installed");
  st = system("sh test/integration/test-install.sh >/dev/null");
  ASSERT(WIFEXITED(st));
  ASSERT_EQ(WEXITSTATUS(st), 0);
}
