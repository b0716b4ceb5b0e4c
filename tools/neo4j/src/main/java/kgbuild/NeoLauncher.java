package kgbuild;

import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.neo4j.configuration.GraphDatabaseSettings;
import org.neo4j.configuration.connectors.BoltConnector;
import org.neo4j.configuration.connectors.BoltConnectorInternalSettings;
import org.neo4j.configuration.helpers.SocketAddress;
import org.neo4j.dbms.api.DatabaseManagementService;
import org.neo4j.dbms.api.DatabaseManagementServiceBuilder;
import org.neo4j.graphdb.GraphDatabaseService;

/**
 * A Neo4j Community DBMS (embedded) with its Bolt connector on a loopback port, for tests and for
 * users without Docker.
 *
 * <p>Usage: {@code java -cp 'target/classes:target/lib/*' kgbuild.NeoLauncher HOME PORT PASSWORD|-}
 *
 * <p>{@code -} as password disables authentication; otherwise user {@code neo4j} gets that
 * password (at least 8 characters). Prints exactly one line {@code NEO4J READY bolt://HOST:PORT}
 * once database {@code neo4j} answers a query and the Bolt port accepts connections; shuts the DBMS
 * down cleanly on SIGTERM/SIGINT (JVM shutdown hook) and prints {@code NEO4J STOPPED}.
 *
 * <p>System properties: {@code kgbuild.neo4j.host} (default 127.0.0.1), {@code
 * kgbuild.neo4j.pagecache.bytes} (default 256 MiB), {@code kgbuild.neo4j.exitOnStdinEof} (default
 * false: when true, the DBMS also stops when standard input reaches end of file, so that it does not
 * outlive the process that started it with a pipe).
 */
public final class NeoLauncher {
  private static final String DATABASE = "neo4j";
  private static final Duration SHUTDOWN_WAIT = Duration.ofMillis(500);

  private NeoLauncher() {}

  public static void main(String[] args) throws Exception {
    if (args.length != 3) {
      System.err.println("usage: NeoLauncher HOME_DIR PORT PASSWORD|-");
      System.exit(2);
    }
    Path home = Path.of(args[0]).toAbsolutePath();
    int port = Integer.parseInt(args[1]);
    String password = args[2];
    boolean auth = !"-".equals(password);
    String host = System.getProperty("kgbuild.neo4j.host", "127.0.0.1");
    long pageCache = Long.getLong("kgbuild.neo4j.pagecache.bytes", 256L * 1024 * 1024);
    boolean exitOnStdinEof = Boolean.getBoolean("kgbuild.neo4j.exitOnStdinEof");
    long t0 = System.nanoTime();

    DatabaseManagementService dbms =
        new DatabaseManagementServiceBuilder(home)
            .setConfig(BoltConnector.enabled, true)
            .setConfig(BoltConnector.listen_address, new SocketAddress(host, port))
            .setConfig(BoltConnector.advertised_address, new SocketAddress(host, port))
            .setConfig(BoltConnector.encryption_level, BoltConnector.EncryptionLevel.DISABLED)
            .setConfig(GraphDatabaseSettings.auth_enabled, auth)
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
      if (auth) {
        setPassword(dbms, password);
      }
      GraphDatabaseService db = dbms.database(DATABASE);
      if (!db.isAvailable(TimeUnit.MINUTES.toMillis(5))) {
        throw new IllegalStateException("database '" + DATABASE + "' did not become available");
      }
      db.executeTransactionally("RETURN 1");
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
