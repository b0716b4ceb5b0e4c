package kgbuild;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelPipeline;
import io.netty.util.ReferenceCountUtil;
import org.neo4j.bolt.protocol.common.connector.Connector;
import org.neo4j.bolt.protocol.common.connector.connection.Connection;
import org.neo4j.bolt.protocol.common.connector.connection.listener.ConnectionListener;
import org.neo4j.bolt.protocol.common.connector.listener.ConnectorListener;

/**
 * Lets only Bolt over plain TCP (or TLS) into a Bolt connector: no WebSocket, no HTTP.
 *
 * <p>Neo4j 5.26's Bolt connector accepts a WebSocket upgrade on the same port whenever the first
 * bytes of a connection look like an HTTP request, and no setting turns that off. Any web page open
 * in a browser on the same machine can then talk Bolt to a loopback server. This listener puts a
 * handler at the head of every new connection's Netty pipeline that looks at the first byte: the
 * Bolt handshake starts with {@code 0x60} (magic {@code 0x6060B017}), a TLS record with {@code
 * 0x16}; anything else (e.g. {@code G} of {@code GET}) is closed before Neo4j sees it.
 */
final class BoltTransportGuard implements ConnectorListener {
  private static final byte BOLT_MAGIC_FIRST_BYTE = 0x60;
  private static final byte TLS_HANDSHAKE_RECORD = 0x16;
  private static final String HANDLER_NAME = "kgbuildBoltTransportGuard";

  /** Registers a guard on {@code connector}; connections accepted from now on are checked. */
  static BoltTransportGuard install(Connector<?> connector) {
    BoltTransportGuard guard = new BoltTransportGuard();
    connector.registerListener(guard);
    return guard;
  }

  @Override
  public void onConnectionCreated(Connection connection) {
    connection.registerListener(
        new ConnectionListener() {
          @Override
          public void onNetworkPipelineInitialized(ChannelPipeline pipeline) {
            pipeline.addFirst(HANDLER_NAME, new FirstByteCheck());
          }
        });
  }

  private static final class FirstByteCheck extends ChannelInboundHandlerAdapter {
    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
      if (msg instanceof ByteBuf buf && buf.isReadable()) {
        byte first = buf.getByte(buf.readerIndex());
        if (first != BOLT_MAGIC_FIRST_BYTE && first != TLS_HANDSHAKE_RECORD) {
          ReferenceCountUtil.release(msg);
          ctx.close();
          return;
        }
        ctx.pipeline().remove(this);
      }
      ctx.fireChannelRead(msg);
    }
  }
}
