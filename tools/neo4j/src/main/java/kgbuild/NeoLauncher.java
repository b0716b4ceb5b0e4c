package kgbuild;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.neo4j.bolt.BoltServer;
import org.neo4j.bolt.protocol.common.connector.Connector;
import org.neo4j.configuration.Config;
import org.neo4j.configuration.GraphDatabaseSettings;
import org.neo4j.configuration.connectors.BoltConnector;
import org.neo4j.configuration.connectors.BoltConnectorInternalSettings;
import org.neo4j.configuration.connectors.HttpConnector;
import org.neo4j.configuration.connectors.HttpsConnector;
import org.neo4j.configuration.helpers.SocketAddress;
import org.neo4j.dbms.api.DatabaseManagementService;
import org.neo4j.dbms.api.DatabaseManagementServiceBuilder;
import org.neo4j.graphdb.GraphDatabaseService;
import org.neo4j.io.fs.DefaultFileSystemAbstraction;
import org.neo4j.kernel.impl.security.User;
import org.neo4j.kernel.internal.GraphDatabaseAPI;
import org.neo4j.logging.NullLogProvider;
import org.neo4j.memory.EmptyMemoryTracker;
import org.neo4j.server.security.SecureHasher;
import org.neo4j.server.security.SystemGraphCredential;
import org.neo4j.server.security.auth.CommunitySecurityModule;
import org.neo4j.server.security.auth.FileUserRepository;

/**
 * A Neo4j Community DBMS (embedded) with its Bolt connector on a loopback port, for tests and for
 * users without Docker.
 *
 * <p>Usage: {@code java -cp 'target/classes:target/lib/*' kgbuild.NeoLauncher HOME PORT}, with the
 * password of user {@code neo4j} (at least 8 characters) as the first line of standard input: it
 * never appears on a command line (visible in {@code ps} and logged by Neo4j as {@code
 * sun.java.command}) nor in the environment. Authentication is always on: a fresh home gets the
 * password as its initial one before the DBMS starts (no window with the default {@code
 * neo4j/neo4j}); an existing home gets it through {@code ALTER USER} (a no-op when unchanged).
 *
 * <p>Locked down for a developer machine: Bolt on the given host only, plain TCP Bolt only (no
 * WebSocket, see {@link BoltTransportGuard}), no HTTP/HTTPS connector, {@code LOAD CSV} without
 * {@code file:} URLs (and an import folder {@code HOME/import} should they be allowed), plugin
 * procedures limited to {@link #DEFAULT_PROCEDURE_ALLOWLIST}.
 *
 * <p>Prints exactly one line {@code NEO4J READY bolt://HOST:PORT} once database {@code neo4j}
 * answers a query and the Bolt port accepts connections; shuts the DBMS down cleanly on
 * SIGTERM/SIGINT (JVM shutdown hook) and prints {@code NEO4J STOPPED}.
 *
 * <p>System properties: {@code kgbuild.neo4j.host} (default 127.0.0.1), {@code
 * kgbuild.neo4j.pagecache.bytes} (default 256 MiB), {@code kgbuild.neo4j.exitOnStdinEof} (default
 * false: when true, the DBMS also stops when standard input reaches end of file, so that it does not
 * outlive the process that started it with a pipe), {@code kgbuild.neo4j.boltWebSocket} (default
 * false: true lets WebSocket clients such as Neo4j Browser in), {@code
 * kgbuild.neo4j.procedures.allowlist} (comma-separated names or globs; default {@link
 * #DEFAULT_PROCEDURE_ALLOWLIST}).
 */
public final class NeoLauncher {
  private static final String DATABASE = "neo4j";
  private static final String USER = "neo4j";
  private static final Duration SHUTDOWN_WAIT = Duration.ofMillis(500);

  /**
   * {@code dbms.security.procedures.allowlist}: what kgbuild itself calls, read-only schema
   * look-ups and what drivers and tools ask on connect. Neo4j applies it to procedures and
   * functions from plugins; its built-in ones (e.g. {@code db.clearQueryCaches}) stay callable by
   * the (password-protected) admin user, which is why {@code kgbuild cypher} checks the plan of
   * every query against its own read-only list.
   */
  static final String DEFAULT_PROCEDURE_ALLOWLIST =
      String.join(
          ",",
          "db.awaitIndex",
          "db.awaitIndexes",
          "db.index.fulltext.queryNodes",
          "db.index.fulltext.queryRelationships",
          "db.labels",
          "db.relationshipTypes",
          "db.propertyKeys",
          "db.schema.visualization",
          "db.schema.nodeTypeProperties",
          "db.schema.relTypeProperties",
          "db.info",
          "db.ping",
          "dbms.components",
          "dbms.routing.getRoutingTable",
          "dbms.showCurrentUser");

  private NeoLauncher() {}

  public static void main(String[] args) throws Exception {
    if (args.length != 2) {
      System.err.println("usage: NeoLauncher HOME_DIR PORT  (password on the first line of stdin)");
      System.exit(2);
    }
    Path home = Path.of(args[0]).toAbsolutePath();
    int port = Integer.parseInt(args[1]);
    String password = readLine(System.in);
    if (password.length() < 8) {
      System.err.println("NEO4J FAILED: the password on stdin needs at least 8 characters");
      System.exit(2);
    }
    String host = System.getProperty("kgbuild.neo4j.host", "127.0.0.1");
    long pageCache = Long.getLong("kgbuild.neo4j.pagecache.bytes", 256L * 1024 * 1024);
    boolean exitOnStdinEof = Boolean.getBoolean("kgbuild.neo4j.exitOnStdinEof");
    boolean webSocket = Boolean.getBoolean("kgbuild.neo4j.boltWebSocket");
    List<String> procedures =
        Arrays.stream(
                System.getProperty(
                        "kgbuild.neo4j.procedures.allowlist", DEFAULT_PROCEDURE_ALLOWLIST)
                    .split(","))
            .map(String::strip)
            .filter(name -> !name.isEmpty())
            .toList();
    long t0 = System.nanoTime();

    Path importDir = home.resolve("import");
    Files.createDirectories(importDir);
    boolean freshHome = !Files.exists(home.resolve("data").resolve("databases").resolve("system"));
    Path initialUsers = null;
    if (freshHome) {
      initialUsers = setInitialPassword(home, password);
    }

    DatabaseManagementService dbms =
        new DatabaseManagementServiceBuilder(home)
            .setConfig(BoltConnector.enabled, true)
            .setConfig(BoltConnector.listen_address, new SocketAddress(host, port))
            .setConfig(BoltConnector.advertised_address, new SocketAddress(host, port))
            .setConfig(BoltConnector.encryption_level, BoltConnector.EncryptionLevel.DISABLED)
            .setConfig(HttpConnector.enabled, false)
            .setConfig(HttpsConnector.enabled, false)
            .setConfig(GraphDatabaseSettings.auth_enabled, true)
            .setConfig(GraphDatabaseSettings.allow_file_urls, false)
            .setConfig(GraphDatabaseSettings.load_csv_file_url_root, importDir)
            .setConfig(GraphDatabaseSettings.procedure_allowlist, procedures)
            .setConfig(GraphDatabaseSettings.pagecache_memory, pageCache)
            .setConfig(GraphDatabaseSettings.preallocate_logical_logs, false)
            // Bolt otherwise waits 5 s twice on shutdown (idle connections, thread pool)
            .setConfig(BoltConnectorInternalSettings.connection_shutdown_wait_time, SHUTDOWN_WAIT)
            .setConfig(BoltConnectorInternalSettings.thread_pool_shutdown_wait_time, SHUTDOWN_WAIT)
            .build();

    CountDownLatch stopped = new CountDownLatch(1);
    Runtime.getRuntime()
        .addShutdownHook(
            new Thread(
                () -> {
                  System.out.println("NEO4J STOPPING");
                  System.out.flush();
                  try {
                    dbms.shutdown();
                  } finally {
                    System.out.println("NEO4J STOPPED");
                    System.out.flush();
                    stopped.countDown();
                  }
                },
                "neo4j-shutdown"));

    try {
      GraphDatabaseService db = dbms.database(DATABASE);
      if (!webSocket) {
        guardBoltConnectors(db);
      }
      if (!freshHome) {
        setPassword(dbms, password);
      }
      if (!db.isAvailable(TimeUnit.MINUTES.toMillis(5))) {
        throw new IllegalStateException("database '" + DATABASE + "' did not become available");
      }
      db.executeTransactionally("RETURN 1");
      if (initialUsers != null) {
        Files.deleteIfExists(initialUsers); // read once, when the system database was created
      }
      waitForPort(host, port);
    } catch (Throwable e) {
      System.err.println("NEO4J FAILED: " + e);
      e.printStackTrace();
      System.exit(1);
    }
    long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
    System.out.println(
        "NEO4J READY bolt://"
            + host
            + ":"
            + port
            + " pid="
            + ProcessHandle.current().pid()
            + " websocket="
            + webSocket
            + " startup_ms="
            + ms);
    System.out.flush();

    if (exitOnStdinEof) {
      drain(System.in);
      System.out.println("NEO4J stdin closed, shutting down");
      System.out.flush();
      System.exit(0);
    }
    stopped.await();
  }

  /** The first line of {@code in} (UTF-8, without the line end), read byte by byte. */
  private static String readLine(InputStream in) throws IOException {
    ByteArrayOutputStream line = new ByteArrayOutputStream();
    int b;
    while ((b = in.read()) >= 0 && b != '\n') {
      line.write(b);
    }
    String text = line.toString(StandardCharsets.UTF_8);
    return text.endsWith("\r") ? text.substring(0, text.length() - 1) : text;
  }

  /**
   * Writes user {@code neo4j} with {@code password} (no change required) to the initial-user file
   * that the system database reads when it is created, as {@code neo4j-admin dbms
   * set-initial-password} does.
   *
   * @return the file written
   */
  private static Path setInitialPassword(Path home, String password) throws Exception {
    Config config = Config.newBuilder().set(GraphDatabaseSettings.neo4j_home, home).build();
    Path authFile = CommunitySecurityModule.getInitialUserRepositoryFile(config);
    try (DefaultFileSystemAbstraction fs = new DefaultFileSystemAbstraction()) {
      fs.mkdirs(authFile.getParent());
      fs.deleteFile(authFile);
      FileUserRepository users =
          new FileUserRepository(
              fs, authFile, NullLogProvider.getInstance(), EmptyMemoryTracker.INSTANCE);
      users.start();
      SystemGraphCredential credential =
          SystemGraphCredential.createCredentialForPassword(
              password.getBytes(StandardCharsets.UTF_8), new SecureHasher());
      users.create(new User(USER, null, credential, false, false));
      users.shutdown();
    }
    return authFile;
  }

  /** Sets the password of user neo4j (no change required); a no-op when it is already that one. */
  private static void setPassword(DatabaseManagementService dbms, String password) {
    GraphDatabaseService system = dbms.database("system");
    try {
      system.executeTransactionally(
          "ALTER USER neo4j SET PASSWORD $pw CHANGE NOT REQUIRED", Map.of("pw", password));
    } catch (RuntimeException e) {
      String msg = String.valueOf(e.getMessage());
      if (!msg.contains("cannot be the same")) {
        throw e;
      }
    }
  }

  /** Puts a {@link BoltTransportGuard} on every Bolt connector of the DBMS. */
  private static void guardBoltConnectors(GraphDatabaseService db) {
    BoltServer bolt =
        ((GraphDatabaseAPI) db).getDependencyResolver().resolveDependency(BoltServer.class);
    List<Connector> connectors = bolt.getConnectors();
    if (connectors.isEmpty()) {
      throw new IllegalStateException("no Bolt connector to guard");
    }
    for (Connector<?> connector : connectors) {
      BoltTransportGuard.install(connector);
    }
  }

  private static void waitForPort(String host, int port) throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
    while (true) {
      try (Socket socket = new Socket()) {
        socket.connect(new InetSocketAddress(host, port), 1000);
        return;
      } catch (IOException e) {
        if (System.nanoTime() > deadline) {
          throw new IllegalStateException("Bolt port " + host + ":" + port + " does not accept", e);
        }
        Thread.sleep(100);
      }
    }
  }

  private static void drain(InputStream in) {
    byte[] buf = new byte[256];
    try {
      while (in.read(buf) >= 0) {
        // keep reading until the parent closes the pipe
      }
    } catch (IOException e) {
      // a broken pipe means the parent is gone as well
    }
  }
}
