<?xml version="1.0" encoding="UTF-8"?>
<!--
  schema.org LocalBusiness (or the type named by identity/activity/@schema) as JSON-LD.
  Every string goes through json-string (format.xsl), which escapes \, ", control
  characters and "<", so no data can break out of the JSON or of the <script> element.
  Numbers (geo) come from schema-validated decimals and are re-emitted with number().
-->
<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">

  <xsl:template name="json-ld">
    <xsl:variable name="id" select="/site/identity"/>
    <xsl:variable name="c" select="/site/contact"/>
    <script type="application/ld+json">
      <xsl:text>{"@context":"https://schema.org","@type":</xsl:text>
      <xsl:call-template name="json-string">
        <xsl:with-param name="text">
          <xsl:choose>
            <xsl:when test="$id/activity/@schema"><xsl:value-of select="$id/activity/@schema"/></xsl:when>
            <xsl:otherwise>LocalBusiness</xsl:otherwise>
          </xsl:choose>
        </xsl:with-param>
      </xsl:call-template>
      <xsl:call-template name="json-member"><xsl:with-param name="key" select="'name'"/><xsl:with-param name="value" select="$id/name"/></xsl:call-template>
      <xsl:call-template name="json-member"><xsl:with-param name="key" select="'description'"/><xsl:with-param name="value" select="$site-description"/></xsl:call-template>
      <xsl:call-template name="json-member"><xsl:with-param name="key" select="'url'"/><xsl:with-param name="value" select="concat($base-url, '/')"/></xsl:call-template>
      <xsl:call-template name="json-member"><xsl:with-param name="key" select="'telephone'"/><xsl:with-param name="value" select="$call-phone/@number"/></xsl:call-template>
      <xsl:call-template name="json-member"><xsl:with-param name="key" select="'faxNumber'"/><xsl:with-param name="value" select="$c/phone[@kind = 'fax'][1]/@number"/></xsl:call-template>
      <xsl:call-template name="json-member"><xsl:with-param name="key" select="'email'"/><xsl:with-param name="value" select="$c/email"/></xsl:call-template>
      <xsl:if test="$id/logo">
        <xsl:call-template name="json-member"><xsl:with-param name="key" select="'logo'"/><xsl:with-param name="value" select="concat($base-url, '/media/', $id/logo/@src)"/></xsl:call-template>
      </xsl:if>
      <xsl:if test="$og-image != ''">
        <xsl:call-template name="json-member"><xsl:with-param name="key" select="'image'"/><xsl:with-param name="value" select="$og-image"/></xsl:call-template>
      </xsl:if>
      <xsl:call-template name="json-member"><xsl:with-param name="key" select="'legalName'"/><xsl:with-param name="value" select="$id/legal/company"/></xsl:call-template>
      <xsl:if test="$id/legal/vat">
        <xsl:call-template name="json-member"><xsl:with-param name="key" select="'vatID'"/><xsl:with-param name="value" select="$id/legal/vat"/></xsl:call-template>
      </xsl:if>

      <!-- address -->
      <xsl:text>,"address":{"@type":"PostalAddress","streetAddress":</xsl:text>
      <xsl:call-template name="json-string">
        <xsl:with-param name="text">
          <xsl:for-each select="$c/address/street">
            <xsl:if test="position() &gt; 1">, </xsl:if>
            <xsl:value-of select="normalize-space(.)"/>
          </xsl:for-each>
        </xsl:with-param>
      </xsl:call-template>
      <xsl:call-template name="json-member"><xsl:with-param name="key" select="'postalCode'"/><xsl:with-param name="value" select="$c/address/postcode"/></xsl:call-template>
      <xsl:call-template name="json-member"><xsl:with-param name="key" select="'addressLocality'"/><xsl:with-param name="value" select="$c/address/city"/></xsl:call-template>
      <xsl:call-template name="json-member"><xsl:with-param name="key" select="'addressCountry'"/><xsl:with-param name="value" select="$c/address/country/@code"/></xsl:call-template>
      <xsl:text>}</xsl:text>

      <!-- geo: only when both are real numbers -->
      <xsl:variable name="lat" select="number($c/address/geo/@lat)"/>
      <xsl:variable name="lon" select="number($c/address/geo/@lon)"/>
      <xsl:if test="$lat = $lat and $lon = $lon">
        <xsl:text>,"geo":{"@type":"GeoCoordinates","latitude":</xsl:text>
        <xsl:value-of select="$lat"/>
        <xsl:text>,"longitude":</xsl:text>
        <xsl:value-of select="$lon"/>
        <xsl:text>}</xsl:text>
      </xsl:if>

      <!-- opening hours: one specification per opening range -->
      <xsl:if test="/site/hours/day/open">
        <xsl:text>,"openingHoursSpecification":[</xsl:text>
        <xsl:for-each select="/site/hours/day/open">
          <xsl:if test="position() &gt; 1">,</xsl:if>
          <xsl:choose>
            <!-- A day token and times made only of [a-z0-9:] (always so in a schema-valid
                 file) need no escaping: the whole object in one expression, with no template
                 calls (through json-string, this loop was a sixth of a page's transform). -->
            <xsl:when test="translate(concat(../@name, @from, @to), 'abcdefghijklmnopqrstuvwxyz0123456789:', '') = ''">
              <xsl:value-of select="concat('{&quot;@type&quot;:&quot;OpeningHoursSpecification&quot;,&quot;dayOfWeek&quot;:&quot;https://schema.org/',
                translate(substring(../@name, 1, 1), 'mtwfs', 'MTWFS'), substring(../@name, 2),
                '&quot;,&quot;opens&quot;:&quot;', @from, '&quot;,&quot;closes&quot;:&quot;', @to, '&quot;}')"/>
            </xsl:when>
            <xsl:otherwise>
              <xsl:text>{"@type":"OpeningHoursSpecification","dayOfWeek":</xsl:text>
              <xsl:call-template name="json-string">
                <xsl:with-param name="text">
                  <xsl:text>https://schema.org/</xsl:text>
                  <xsl:call-template name="day-name-en"><xsl:with-param name="day" select="../@name"/></xsl:call-template>
                </xsl:with-param>
              </xsl:call-template>
              <xsl:text>,"opens":</xsl:text>
              <xsl:call-template name="json-string"><xsl:with-param name="text" select="@from"/></xsl:call-template>
              <xsl:text>,"closes":</xsl:text>
              <xsl:call-template name="json-string"><xsl:with-param name="text" select="@to"/></xsl:call-template>
              <xsl:text>}</xsl:text>
            </xsl:otherwise>
          </xsl:choose>
        </xsl:for-each>
        <xsl:text>]</xsl:text>
      </xsl:if>

      <!-- exceptional closures: schema.org says closed = opens and closes at 00:00 -->
      <xsl:if test="$closures">
        <xsl:text>,"specialOpeningHoursSpecification":[</xsl:text>
        <xsl:for-each select="$closures">
          <xsl:if test="position() &gt; 1">,</xsl:if>
          <xsl:text>{"@type":"OpeningHoursSpecification","opens":"00:00","closes":"00:00","validFrom":</xsl:text>
          <xsl:call-template name="json-string"><xsl:with-param name="text" select="@from"/></xsl:call-template>
          <xsl:text>,"validThrough":</xsl:text>
          <xsl:call-template name="json-string">
            <xsl:with-param name="text">
              <xsl:choose>
                <xsl:when test="@to"><xsl:value-of select="@to"/></xsl:when>
                <xsl:otherwise><xsl:value-of select="@from"/></xsl:otherwise>
              </xsl:choose>
            </xsl:with-param>
          </xsl:call-template>
          <xsl:text>}</xsl:text>
        </xsl:for-each>
        <xsl:text>]</xsl:text>
      </xsl:if>
      <xsl:text>}</xsl:text>
    </script>
  </xsl:template>

  <!-- schema.org day names are English, whatever the site's language. -->
  <xsl:template name="day-name-en">
    <xsl:param name="day"/>
    <xsl:value-of select="translate(substring($day, 1, 1), 'mtwfs', 'MTWFS')"/>
    <xsl:value-of select="substring($day, 2)"/>
  </xsl:template>

</xsl:stylesheet>
