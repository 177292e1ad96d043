# CMake package files (cmake/*.cmake.in). Included by the Makefile.
#
#   make install     also installs LIBDIR/cmake/libyamux/libyamuxConfig.cmake
#                    and libyamuxConfigVersion.cmake: find_package(libyamux)
#                    gives libyamux::libyamux (shared) and
#                    libyamux::libyamux_static, both with libuv
#
# The files locate the library from their own place when LIBDIR and
# INCLUDEDIR are under PREFIX (a staged or moved tree works), else they
# name LIBDIR and INCLUDEDIR as they are.

CMAKE_PKG_DIR = $(LIBDIR)/cmake/libyamux
CMAKE_PKG_SUBST = \
  -e 's|@VERSION@|$(VERSION)|g' \
  -e 's|@VERSION_MAJOR@|$(word 1,$(subst ., ,$(VERSION)))|g' \
  -e 's|@VERSION_MINOR@|$(word 2,$(subst ., ,$(VERSION)))|g' \
  -e 's|@SHARED_FILE@|libyamux.so.$(VERSION)|g' \
  -e 's|@SONAME@|$(SONAME)|g'

.PHONY: install-cmake uninstall-cmake

install: install-cmake
install-cmake:
	@set -e; \
	prefix='$(PREFIX)'; prefix=$${prefix%/}; \
	libdir='$(LIBDIR)'; libdir=$${libdir%/}; \
	incdir='$(INCLUDEDIR)'; incdir=$${incdir%/}; \
	case "$$libdir" in "$$prefix"/*) lib_rel=$${libdir#"$$prefix"/} ;; \
	  *) lib_rel= ;; esac; \
	case "$$incdir" in "$$prefix"/*) inc_rel=$${incdir#"$$prefix"/} ;; \
	  *) inc_rel= ;; esac; \
	if [ -n "$$lib_rel" ] && [ -n "$$inc_rel" ]; then \
	  up=$$(echo "$$lib_rel/cmake/libyamux" | sed 's|[^/][^/]*|..|g'); \
	else \
	  up=.; lib_rel=$$libdir; inc_rel=$$incdir; \
	fi; \
	ptr=$$($(CC) -dM -E -x c /dev/null | \
	       sed -n 's/^#define __SIZEOF_POINTER__ //p'); \
	[ -n "$$ptr" ] || { echo "cannot tell the pointer size of $(CC)" >&2; \
	                    exit 1; }; \
	dir='$(DESTDIR)$(CMAKE_PKG_DIR)'; \
	install -d "$$dir"; \
	sed $(CMAKE_PKG_SUBST) -e "s|@CONFIG_TO_PREFIX@|$$up|g" \
	    -e "s|@CONFIG_DIR_REL@|$$lib_rel/cmake/libyamux|g" \
	    -e "s|@LIBDIR_FROM_PREFIX@|$$lib_rel|g" \
	    -e "s|@INCLUDEDIR_FROM_PREFIX@|$$inc_rel|g" \
	    cmake/libyamuxConfig.cmake.in >"$$dir/libyamuxConfig.cmake"; \
	sed $(CMAKE_PKG_SUBST) -e "s|@SIZEOF_VOID_P@|$$ptr|g" \
	    cmake/libyamuxConfigVersion.cmake.in \
	    >"$$dir/libyamuxConfigVersion.cmake"; \
	echo "installed $$dir/libyamuxConfig.cmake, libyamuxConfigVersion.cmake"

uninstall: uninstall-cmake
uninstall-cmake:
	rm -f $(DESTDIR)$(CMAKE_PKG_DIR)/libyamuxConfig.cmake \
	      $(DESTDIR)$(CMAKE_PKG_DIR)/libyamuxConfigVersion.cmake
	-rmdir $(DESTDIR)$(CMAKE_PKG_DIR) $(DESTDIR)$(LIBDIR)/cmake 2>/dev/null
