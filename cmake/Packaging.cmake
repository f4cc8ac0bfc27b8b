# The Debian package of the server (cpack -G DEB in a build directory):
# crm-syncd, crmctl, crm-device, the systemd unit, the settings example, the
# HAProxy example and the docs. Its maintainer scripts (deploy/debian/) create the crmsync
# system user, /var/lib/crmsync owned by it, and /etc/crmsync/crm-syncd.toml
# from /usr/share/crmsync/crm-syncd.toml when missing. Package dependencies
# come from dpkg-shlibdeps (what the binaries link), plus adduser.
install(FILES deploy/systemd/crm-syncd.service DESTINATION lib/systemd/system COMPONENT server)
install(FILES deploy/crm-syncd.toml DESTINATION ${CMAKE_INSTALL_DATADIR}/crmsync COMPONENT server)
# The load-balancer example and its grpc.health.v1 check (docs/operations.md).
install(FILES deploy/haproxy/haproxy.cfg DESTINATION ${CMAKE_INSTALL_DATADIR}/crmsync/haproxy
        COMPONENT server)
install(PROGRAMS deploy/haproxy/crmsync-health-check
        DESTINATION ${CMAKE_INSTALL_DATADIR}/crmsync/haproxy COMPONENT server)

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME crmsync-server)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_VENDOR "crmsync")
set(CPACK_PACKAGE_CONTACT "crmsync maintainers <crmsync@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "crmsync sync server: offline-first CRM sync over gRPC (crm-syncd, crmctl)")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL server tools docs)
set(CPACK_COMPONENTS_GROUPING ALL_COMPONENTS_IN_ONE)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser")
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "systemd")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    "${PROJECT_SOURCE_DIR}/deploy/debian/postinst;${PROJECT_SOURCE_DIR}/deploy/debian/prerm;${PROJECT_SOURCE_DIR}/deploy/debian/postrm")
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)
